##  lib/blob.mk — (module lines go here)
