"""core.render: the face render stages and their array backends.

Primitives (each usable on its own, numpy on the CPU, CuPy arrays accepted; see backend):
- warp: piecewise-affine mesh warp as one dense map + one cv2.remap (`warp_image`, `fill_mesh`);
- masks: face hull and region masks with feather (`face_mask`, `region_mask`, `Regions`);
- colour: Reinhard LAB / histogram matching and temporal smoothing (`match_colour`, `ColourSmoother`);
- poisson / blend: DST-I Poisson blend (normal, mixed), feather, paste, and `seam_energy`.
The renderer (renderer.py, pipeline.py) chains them per frame.
"""
