from art2mus.installation.cli import main

if __name__ == "__main__":
    main()
