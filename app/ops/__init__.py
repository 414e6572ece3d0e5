"""Operations: health and readiness probes, Prometheus metrics (served by the API's dispatcher, outside NiceGUI)."""
