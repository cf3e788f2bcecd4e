from localservices.cli import main

main()
