# The Helm chart's generated files: copies of its inputs (no symlinks leave helm/closet) and its README.
#   make chart         regenerate helm/closet/files/, helm/closet/ci/cpu-values.yaml and helm/closet/README.md
#   make chart-check   fail when any of them differs from what `make chart` writes (the tests check it too)
# Sources: config/ (make config), monitoring/ (slo.yml: make slo-rules), helm/closet/values.yaml comments.

.PHONY: chart chart-check

chart: config slo-rules ## regenerate the chart's copies of config/ and monitoring/ files and its README
	$(PYTHON) -m closet_dev.chart_files
	$(PYTHON) -m closet_dev.chart_readme

chart-check: venv ## fail if a chart copy or helm/closet/README.md is out of date
	$(PYTHON) -m closet_dev.chart_files --check
	$(PYTHON) -m closet_dev.chart_readme --check
