"""fraudspark: batch fraud detection on Apache Spark, Delta Lake and PyTorch."""

from setuptools import find_packages, setup

# Spark and Delta must move together: delta-spark 4.0.x is built for Spark 4.0.x (Scala 2.13).
CORE = [
    "pyspark==4.0.1",
    "delta-spark==4.0.1",
    "pandas==2.3.3",
    "pyarrow>=15,<27",
    "numpy>=1.26,<2.5",
    "pyyaml>=6",
    "pydantic>=2.6,<3",
]
ML = [
    "torch==2.9.1",
    "mlflow-skinny>=3.1,<4",
    # mlflow-skinny leaves out the SQL store; the default registry is SQLite under the lakehouse.
    "sqlalchemy>=2,<2.1",
    "alembic>=1.13,<2",
    "scikit-learn>=1.5",
    "captum>=0.9,<1",  # integrated gradients for the classifier (0.8 and older pin numpy < 2)
    "imbalanced-learn>=0.13",
    "matplotlib>=3.8",
    "scipy>=1.11",
    "threadpoolctl>=3.1",  # one OpenMP thread for small scikit-learn fits (oversampling/quality.py)
    # Gradient-boosted classifier (models/classifiers/gbt.py): native JSON model, TreeSHAP.
    "xgboost>=3,<4",
]
DEV = [
    "pytest>=8",
    "pytest-xdist>=3.5",  # `make test`: two test processes, one Spark driver each
    "ruff>=0.6",
    "mypy>=1.10",
    "duckdb>=1.1",
    "pandas-stubs",
    "types-PyYAML",
    "uv>=0.9",  # `make lock`: requirements.lock from the ranges above
    "psutil>=5.9",  # bench/timing.py: CPU of process trees, machine load
]

setup(
    name="fraudspark",
    version="0.1.0",
    description="Batch fraud detection for card payments on Spark, Delta Lake and PyTorch",
    python_requires=">=3.10",
    packages=find_packages(include=["fraudspark", "fraudspark.*"]),
    package_data={"fraudspark": ["py.typed"]},
    install_requires=CORE,
    extras_require={"ml": ML, "dev": DEV},
    entry_points={"console_scripts": ["fraudspark = fraudspark.cli:main"]},
)
