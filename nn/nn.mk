##  nn/nn.mk — (module lines go here)
