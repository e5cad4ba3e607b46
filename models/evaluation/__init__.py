"""How the bundled models are judged and reported: the cards rendered from their committed JSON."""
