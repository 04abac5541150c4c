from distilhash.demo.steps import main

main()
