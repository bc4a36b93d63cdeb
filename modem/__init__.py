"""Everything that speaks to hardware: transport, AT session, PDU codec, virtual modem, GPIO."""
