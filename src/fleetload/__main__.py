from fleetload.cli.main import main

main()
