"""Care tools inside the guarded conversation: validated check-ins (PHQ-9, GAD-7, daily mood), the structured risk
inquiry (C-SSRS screener), the safety plan, the self-help library and FHIR R4 export. Wording, codes and sources
are data files under ``care/data``; this package reads answers and scores them, it never generates clinical text."""
