"""Face analysis: detection, 478-point landmarks, tracking, head pose, gaze, identity embedding."""
