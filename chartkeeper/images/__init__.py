"""The deployment's image inventory (`chartkeeper images`): what every release pulls, where the site keeps it."""
