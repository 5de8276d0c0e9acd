"""Every run, baseline and sweep starts here: `python run.py [group=option ...] [key=value ...]`, or with `-m`
for a Hydra multirun. The Hydra entry point itself is rewardroute.main.main (also the `rewardroute` command)."""

from rewardroute.main import main

if __name__ == "__main__":
    main()
