"""What runs on each host: the render context, the files and the rendering of `templates/`.

Pure Python (no Pulumi): the infrastructure hands a `HostAppContext` in and gets user data out;
the runtime harness renders the same files to run them on 127.0.0.1.
"""
