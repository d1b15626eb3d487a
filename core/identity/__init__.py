"""Identity templates and the library (see core.identity.library / template / consent)."""

from core.identity.consent import Consent, check_consent
from core.identity.library import Library, default_library_dir, parse_frame_range
from core.identity.quality import QualityError, QualityLimits, QualityReport
from core.identity.template import Template

__all__ = ["Consent", "Library", "QualityError", "QualityLimits", "QualityReport", "Template", "check_consent",
           "default_library_dir", "parse_frame_range"]
