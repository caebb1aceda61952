"""Staged writes swapped in by a journal: a killed swap is finished by the next run."""

from __future__ import annotations

from pathlib import Path

from chartkeeper.bump import journal


def _setup(tmp_path: Path) -> tuple[Path, journal.Staging]:
    tree = tmp_path / "deploy"
    (tree / "charts" / "x-1").mkdir(parents=True)
    (tree / "charts" / "x-1" / "Chart.yaml").write_text("version: 1\n")
    (tree / "a.txt").write_text("old a\n")
    st = journal.Staging.open(tree / "charts", tree, "x-2")
    staged = st.dir / "chart"
    staged.mkdir()
    (staged / "Chart.yaml").write_text("version: 2\n")
    st.stage_folder_swap(staged, tree / "charts" / "x-1", tree / "charts" / "x-2")
    st.stage_text(tree / "a.txt", "new a\n")
    st.stage_text(tree / "reports" / "r.md", "report\n")
    return tree, st


def _is_new(tree: Path) -> None:
    assert not (tree / "charts" / "x-1").exists()
    assert (tree / "charts" / "x-2" / "Chart.yaml").read_text() == "version: 2\n"
    assert (tree / "a.txt").read_text() == "new a\n"
    assert (tree / "reports" / "r.md").read_text() == "report\n"
    assert not list((tree / "charts").glob(journal.STAGING_PREFIX + "*"))


def test_commit_swaps_everything(tmp_path: Path) -> None:
    tree, st = _setup(tmp_path)
    st.commit()
    _is_new(tree)


def test_before_journal_recovery_discards(tmp_path: Path) -> None:
    tree, st = _setup(tmp_path)  # staged, no journal: as if killed before the swap began
    assert journal.recover(tree / "charts", tree) == [f"removed the staging folder {st.dir.name}"]
    assert (tree / "charts" / "x-1").is_dir() and (tree / "a.txt").read_text() == "old a\n"
    assert not st.dir.exists()


def test_half_done_swap_is_finished(tmp_path: Path) -> None:
    tree, st = _setup(tmp_path)

    class Killed(BaseException):
        pass

    def die(stage: str) -> None:
        if stage == "swapping":
            raise Killed

    try:
        st.commit(die)
    except Killed:
        pass
    assert not (tree / "charts" / "x-1").exists()  # moved away, nothing else yet
    assert (tree / "a.txt").read_text() == "old a\n"
    assert journal.recover(tree / "charts", tree)
    _is_new(tree)


def test_same_folder_refill(tmp_path: Path) -> None:
    tree = tmp_path / "deploy"
    (tree / "charts" / "x").mkdir(parents=True)
    (tree / "charts" / "x" / "old.txt").write_text("1")
    st = journal.Staging.open(tree / "charts", tree, "x")
    (st.dir / "chart").mkdir()
    (st.dir / "chart" / "new.txt").write_text("2")
    st.stage_folder_swap(st.dir / "chart", tree / "charts" / "x", tree / "charts" / "x")
    st.commit()
    assert sorted(p.name for p in (tree / "charts" / "x").iterdir()) == ["new.txt"]
    # replaying a finished journal is harmless: nothing left to replay
    assert journal.recover(tree / "charts", tree) == []
