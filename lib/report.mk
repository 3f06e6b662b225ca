##  lib/report.mk — `fedctl report`: an experiment's files drawn as SVG
##  charts in one self-contained HTML page (docs/report.md)
noinst_HEADERS += lib/fg_report.h lib/fg_report_internal.h
lib_libfglib_la_SOURCES += lib/fg_report_csv.c lib/fg_report_svg.c lib/fg_report_charts.c \
    lib/fg_report_time.c lib/fg_report_html.c lib/fg_report_journal.c
UNIT_TESTS += tests/test_report
TESTS += tests/test_report_page.sh
EXTRA_DIST += tests/test_report_page.sh
##  the readers of rounds.csv and clients.csv, and the drawing of what they accept
FUZZ_HARNESSES += report
check_PROGRAMS += fuzz/replay_report
TESTS += fuzz/replay_report
fuzz_replay_report_SOURCES = fuzz/fuzz_report.c fuzz/replay_main.c
fuzz_replay_report_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"report"'
