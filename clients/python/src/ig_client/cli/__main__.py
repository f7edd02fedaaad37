from ig_client.cli import main

main()
