"""JVM options for the tests' short-lived Spark drivers.

A test's JVM lives seconds to minutes on tiny data: the client compiler alone (no C2) and the
serial collector halve a cold Delta MERGE on 2 cores (measured: four upserts in a fresh session
43 s -> 19 s). Execution paths are unchanged (whole-stage codegen stays on, as in production).
"""

DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SPARK_EXTRA = {"spark.driver.extraJavaOptions": DRIVER_JAVA_OPTIONS}
