"""Tables and figures across run directories (``vidsparse report``)."""
