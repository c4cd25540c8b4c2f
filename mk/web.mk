# The demo web page (closet_client.web) and its browser test.
#   make browser           install Debian's chromium + chromium-driver (idempotent, stamped; `make test` needs it)
#   make web               the page alone, on 127.0.0.1:<server.web_port>, in front of `make serve`'s TorchServe
#                          (`make serve` already starts it beside TorchServe)
#   make web-screenshots   the browser test, saving docs/web.png and docs/web-phone.png
# The browser test drives /usr/bin/chromium through /usr/bin/chromedriver; nothing is downloaded.

BROWSER_STAMP := $(CACHE)/browser/.installed
WEB_SCREENSHOTS ?= docs

TEST_DEPS += browser

.PHONY: browser web web-screenshots

browser: $(BROWSER_STAMP) ## install chromium + chromium-driver (apt, once) for the browser test
$(BROWSER_STAMP):
	@if ! test -x /usr/bin/chromium || ! test -x /usr/bin/chromedriver; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver; fi
	/usr/bin/chromedriver --version
	mkdir -p $(@D) && touch $@

web: venv ## serve the demo page (foreground) in front of the local TorchServe
	$(PYTHON) -m closet_client.web

web-screenshots: browser venv mars ## run the browser test against real TorchServe; write $(WEB_SCREENSHOTS)/web.png, web-phone.png
	CLOSET_WEB_SCREENSHOTS=$(abspath $(WEB_SCREENSHOTS)) $(BIN)/pytest tests/serve/test_web_browser.py -q
