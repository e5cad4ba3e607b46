"""3D volumes (CT, MR, 3D MedMNIST): reading with geometry, intensity handling, NIfTI and DICOM series output,
previews, and a class-conditional 3D DDPM (MONAI's DiffusionModelUNet with the 2D samplers)."""
