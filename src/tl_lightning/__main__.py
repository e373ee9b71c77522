from tl_lightning.run.cli import main

if __name__ == "__main__":
    main()
