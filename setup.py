from setuptools import find_packages, setup
setup(name='pinas_mm', version='0.1.0', packages=find_packages(include=['pinas_mm*']))
