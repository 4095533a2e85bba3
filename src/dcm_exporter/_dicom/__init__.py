"""All of the package's own DICOM code, private: the one Part 10 walker and the network stack.

- :mod:`.part10` — reading Part 10 files: the File Meta Information, the header scanner of the filesystem
  index (strict: declines anything unusual to pydicom) and the framing check before a data set is sent
  as stored (tolerant), on one element walker;
- :mod:`.framing` — upper-layer PDUs and DIMSE command sets, as bytes; :mod:`.status` — what a DIMSE status
  is (success, warning, failure, pending, cancel: PS3.7 Annex C) and means, for every reader of one;
- :mod:`.association` — an association on a socket, requested (C-STORE, C-ECHO, N-ACTION, N-CREATE, and the
  N-EVENT-REPORTs a peer sends back on it) or accepted; :mod:`.pool` keeps idle ones; :mod:`.tls` builds TLS
  contexts;
- :mod:`.destination` — a configured remote AE resolved to host, port, TLS and timeouts;
- :mod:`.transcode` — a stored instance re-encoded for the transfer syntax a peer accepted (pydicom);
- :mod:`.services` — the DIMSE-N services of storage commitment and IAN, and the embedded SCP receiving
  N-EVENT-REPORTs on associations the peer opens;
- :mod:`.errors`, :mod:`.uids` — internal failures, the UIDs it names.

It imports :mod:`dcm_exporter.errors` and (for typing) the models, nothing else of the package. pydicom
and pynetdicom are imported lazily, when an association is opened or a data set encoded; of pynetdicom only
the A-ASSOCIATE PDU codec and the acceptor's presentation context negotiation are used.
"""
