from chartkeeper.cli import main

main()
