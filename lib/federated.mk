##  lib/federated.mk — (module lines go here)
