"""mindrail's own Presidio recognisers, one per file: addresses, medications, named people, facilities, dates,
social-media handles."""

from mindrail.privacy.recognizers.addresses import StreetAddressRecognizer
from mindrail.privacy.recognizers.clinicians import ClinicianNameRecognizer
from mindrail.privacy.recognizers.dates import SpecificDateRecognizer
from mindrail.privacy.recognizers.facilities import FacilityRecognizer
from mindrail.privacy.recognizers.handles import HandleRecognizer
from mindrail.privacy.recognizers.medications import MedicationRecognizer

__all__ = [
    "ClinicianNameRecognizer",
    "FacilityRecognizer",
    "HandleRecognizer",
    "MedicationRecognizer",
    "SpecificDateRecognizer",
    "StreetAddressRecognizer",
]
