"""modebound's validation: trains real policies on synthetic and MuJoCo tasks and checks
every bound against them."""
