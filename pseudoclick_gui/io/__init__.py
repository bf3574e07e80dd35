"""Images and volumes -> numpy (never torch, never Qt).

* :mod:`.images`     ``load_image``, ``image_size``, ``count_pages``, ``file_checksum``, ``list_images``
* :mod:`.volume`     ``Volume`` (arrays are (X, Y, Z), affine to RAS+ mm) and ``open_volume``
* :mod:`.dicom`      ``list_dicom_series``, ``open_dicom``; :mod:`.nifti` ``open_nifti``, ``open_nifti_folder``,
  ``to_nifti_image``, ``save_nifti``; :mod:`.tiff_stack` ``open_tiff_stack``
* :mod:`.windowing`  ``apply_window``, ``WINDOW_PRESETS``, ``auto_window``, ``normalize_percentile``
* :mod:`.synthetic`  ``make_phantom_volume``

Submodules are imported on demand; importing this package is cheap.
"""
