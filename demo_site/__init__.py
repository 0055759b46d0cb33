"""A small shop on its own origin that embeds the Porchlight snippet as a site owner would."""
