"""The lakehouse: Delta table declarations (:mod:`.tables`), table IO (:mod:`.io`), content
checksums and the nightly run lock."""
