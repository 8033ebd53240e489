"""Entry point of the ``batch-router`` console script: imports each command module so it registers."""

from jobs import (  # noqa: F401
    batch_cmd,  # noqa: F401
    evaluate_cmd,  # noqa: F401
    label_cmd,  # noqa: F401
    route_cmd,
    savings_cmd,  # noqa: F401
    train_cmd,  # noqa: F401
    validate_cmd,
)
from jobs.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
