##  lib/report.mk — `fedctl report`: an experiment's files drawn as SVG
##  charts in one self-contained HTML page (docs/report.md)
noinst_HEADERS += lib/fg_report.h lib/fg_report_internal.h
lib_libfglib_la_SOURCES += lib/fg_report_csv.c lib/fg_report_svg.c lib/fg_report_charts.c \
    lib/fg_report_time.c lib/fg_report_html.c
UNIT_TESTS += tests/test_report
TESTS += tests/test_report_page.sh
EXTRA_DIST += tests/test_report_page.sh
