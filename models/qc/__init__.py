"""Quality control of generated images: label agreement and memorisation (nearest training image)."""
