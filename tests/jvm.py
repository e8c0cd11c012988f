"""JVM options for the tests' short-lived Spark drivers (``spark.driver_java_options``).

A test's JVM lives seconds to minutes on tiny data: the client compiler alone (no C2) and the
serial collector halve a cold Delta MERGE on 2 cores (measured: four upserts in a fresh session
43 s -> 19 s). Execution paths are unchanged (whole-stage codegen stays on, as in production).
Product runs keep C2 for hot code (``fraudspark.config.DRIVER_JAVA_OPTIONS``): C1 alone makes a
7M-row feature job about 40% slower (bench/jvm_options.py).
"""

DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
