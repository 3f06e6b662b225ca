##  actors/actors.mk — (module lines go here)
