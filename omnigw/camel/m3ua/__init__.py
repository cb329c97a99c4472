"""M3UA (RFC 4666): the SS7 user adaptation CAMEL's SCCP rides on over SIGTRAN."""
