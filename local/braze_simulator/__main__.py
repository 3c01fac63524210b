from local.braze_simulator.server import main

main()
