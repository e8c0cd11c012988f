"""The lakehouse: Delta table declarations (:mod:`.tables`) and table IO (:mod:`.io`)."""
