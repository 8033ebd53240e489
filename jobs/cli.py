"""Entry point of the ``batch-router`` console script: imports each command module so it registers."""

from jobs import route_cmd, validate_cmd  # noqa: F401
from jobs import savings_cmd  # noqa: F401
from jobs import evaluate_cmd  # noqa: F401
from jobs import train_cmd  # noqa: F401
from jobs.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
