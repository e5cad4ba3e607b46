"""Reading, de-identifying and writing images: PNG, JPEG, DICOM, GIF. Torch-free."""
