"""FACS Action Unit engine: catalogue, bases on a canonical mesh, solver, calibration, filters,
synthesis (the solver's inverse) and OpenFace interchange."""

from core.facs.catalogue import AU_IDS, AUInfo, au_curve_names, catalogue, curve_names
from core.facs.extract import FaceAUs, extract_shot, filter_curves, solve_frame
from core.facs.model import Pose, synthesize

__all__ = ["AU_IDS", "AUInfo", "FaceAUs", "Pose", "au_curve_names", "catalogue", "curve_names", "extract_shot",
           "filter_curves", "solve_frame", "synthesize"]
