##  nn/data.mk — (module lines go here)
