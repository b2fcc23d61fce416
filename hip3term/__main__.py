from hip3term.cli import main

main()
