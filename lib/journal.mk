##  lib/journal.mk — (module lines go here)
