from tl_lightning.train import main

if __name__ == "__main__":
    main()
