from tl_lightning.run.train import main

if __name__ == "__main__":
    main()
