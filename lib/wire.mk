##  lib/wire.mk — (module lines go here)
