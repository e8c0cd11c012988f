"""JVM options of the tests' Spark drivers (``spark.driver_java_options``).

``SESSION_JAVA_OPTIONS``, for the one session each test process keeps for its whole run (tens of
minutes): the product's own options (``fraudspark.config.DRIVER_JAVA_OPTIONS``: C2 only for
code that stays hot, the serial collector), so the tests run the JVM users run. Measured
against the client compiler alone (C1, below) on 2 cores: ``tests/test_nightly.py`` 210 s ->
166 s, the oversampling evaluation test 150 s -> 120 s.

``DRIVER_JAVA_OPTIONS``, for the short-lived drivers a few tests start as separate processes
(seconds to a minute on tiny data): the client compiler alone and the serial collector halve a
cold Delta MERGE against the JVM's defaults (four upserts in a fresh session 43 s -> 19 s).
Execution paths are the same with either (whole-stage codegen stays on, as in production).
"""

from fraudspark.config import DRIVER_JAVA_OPTIONS as SESSION_JAVA_OPTIONS

DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

__all__ = ["DRIVER_JAVA_OPTIONS", "SESSION_JAVA_OPTIONS"]
